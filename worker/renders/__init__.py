"""What every render shares, single jobs and book chunks alike: one delivery at a time, and paid audio never lost.

`lease`: the short Redis lease the one delivery rendering a job or chunk holds.
`held`: audio Fish returned that S3 could not take yet, kept so a retry does not pay again.
"""
