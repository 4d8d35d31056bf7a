"""Pure answers about a mail: automated?, which ticket?, which route?, an agent?"""
