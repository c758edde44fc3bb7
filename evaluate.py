"""Compare policies on common seeded episodes (thin entry point; see ``mmgym.kit.cli``)."""

from mmgym.kit.cli import evaluate

if __name__ == "__main__":
    evaluate()
