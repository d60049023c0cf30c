from terrplan.cli import main

main()
