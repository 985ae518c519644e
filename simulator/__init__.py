"""Event generators (the published 2024 year, a live stream) and the replay tool."""
