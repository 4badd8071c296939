"""Screening stage (``workflow/rules/screening.smk``): two reviewers per record.

``stage`` (decisions, conflicts, adjudication, agreement, PRISMA counts, queues),
``imports`` (Rayyan, Covidence and ASReview LAB exports as a reviewer's file),
``prioritise`` (queues ranked by predicted relevance, stopping estimate).
"""
