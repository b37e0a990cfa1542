package spool

// childRoleEnv names the role a re-executed test binary plays.
const childRoleEnv = "AGENTAUDIT_SPOOL_TEST_CHILD"

func runChild(role string) int { return 2 }
