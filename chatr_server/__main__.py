from chatr_server.cli import main

main()
