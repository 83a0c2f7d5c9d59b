"""Every sandbox's network, the daemon side of `netns/`: ENIs built ahead of demand, VPCs and their
address pools, attached hosts, and the nftables table kept in step with them."""
