"""Running passes as a controller: the pipeline of a pass, applying, the loop, leader election,
health, metrics and events.
"""
