"""Train an agent (thin entry point; see ``mmgym.cli``)."""

from mmgym.cli import train

if __name__ == "__main__":
    train()
