from rlreason.cli import main

main()
