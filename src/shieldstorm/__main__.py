from shieldstorm.cli.main import main

main()
