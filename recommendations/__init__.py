"""Reading recommendations (issue: personal and curated lists); empty until that issue lands."""
