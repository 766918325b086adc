"""A job that only takes time: sleeps for argv[1] seconds (the scheduler's tests)."""
import sys
import time

time.sleep(float(sys.argv[1]))
