from whisper_automation.cli import main

main()
