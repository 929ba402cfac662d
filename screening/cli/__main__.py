"""`python -m screening.cli`: the ipscreen command."""

from screening.cli import main

main()
