"""What leaves the program: plan, job and diff formats, log lines, credential masking, text safe
for CI runners.
"""
