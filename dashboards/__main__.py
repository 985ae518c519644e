from dashboards.build import main

main()
