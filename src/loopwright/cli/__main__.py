from loopwright.cli.main import main

main()
