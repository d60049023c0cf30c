"""Scoring factors beyond volume x weight (issue 14): growth, competition, adoption, market size, affiliations.

Each is optional and off by default; `combine.account_factors` gathers the ones a config turns on into one frame of
per-account columns, `score.score_accounts` multiplies them into potential, `territory.territory_factors` sums
them per territory. Column names and meanings: README.md, "Growth, competition, adoption and market size".
"""
