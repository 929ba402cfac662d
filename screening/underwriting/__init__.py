"""From screening results to a premium: per-output risk, applicant profile, rating plan, quote."""
