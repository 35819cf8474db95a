from localviyo.cli import main

main(prog_name="localviyo")
