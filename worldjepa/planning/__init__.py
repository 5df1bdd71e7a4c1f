"""Planning through a world model: the LatentAgent, goal costs, subgoals and policy proposals."""
