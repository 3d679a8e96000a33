"""The downtime benchmark's parts: load generator, deploy reports, timeline, tables.

    load      steady HTTP load on a loopback URL; every request's outcome
    worklog   worker job failures (`JOB FAILED` lines) from dyno log files
    report    reading a herotasks deploy report (`deploy.<stage> --json PATH`)
    timeline  a deploy drawn as SVG and as a few lines of terminal text
    table     aligned text and Markdown tables
"""
