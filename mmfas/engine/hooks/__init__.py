# Runner hooks of mmfas methods live here (none needed by FLIP).
