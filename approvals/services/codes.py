"""Authorization codes and their brute-force lockout. (Being built: see the helper brief.)"""
