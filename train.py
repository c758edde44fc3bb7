"""Train an agent (thin entry point; see ``mmgym.kit.cli``)."""

from mmgym.kit.cli import train

if __name__ == "__main__":
    train()
