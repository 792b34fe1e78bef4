"""Local stand-ins for ION and Violet, the scripted day and the convergence report."""
