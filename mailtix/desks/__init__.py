"""Acting on one incoming mail: the pipeline and the customer, agent, bounce desks."""
