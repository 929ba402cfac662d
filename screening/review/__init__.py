"""The reviewer's workbench, on the domain side: cases kept for review, verdicts, sessions."""
