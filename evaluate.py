"""Compare policies on common seeded episodes (thin entry point; see ``mmgym.cli``)."""

from mmgym.cli import evaluate

if __name__ == "__main__":
    evaluate()
