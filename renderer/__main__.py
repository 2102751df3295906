"""The ``renderer`` program (and ``python -m renderer``): Ctrl-C's rules first (see
``interrupts``), then the command line."""


def run() -> None:
    from .interrupts import install

    install()
    from .cli import main

    main()


if __name__ == "__main__":
    run()
