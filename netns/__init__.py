"""lambdalet networking (ENIs, NAT, VPC emulation).

For now every sandbox gets a fresh network namespace with only a loopback interface; veth
ENIs, NAT and VPC emulation arrive with the networking issue.
"""
