"""placeholder"""

MUTATORS = ()
