package replay

const childEnv = "QUN_REPLAY_CHILD"

func runChild() int { return 2 }
