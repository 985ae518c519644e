"""The ICT department's board: the live fragments and the view model they render."""
