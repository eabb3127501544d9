"""Notices to readers over WeChat subscribe messages and an in-app inbox; empty until that issue lands."""
