"""lambdalet networking, the kernel side: addressing (pure IPAM and names), links (network
namespaces, routed veth ENIs, attached hosts' namespaces; pyroute2), the VPC model, and the
nftables rules (NAT, security groups, anti-spoofing) rendered as data."""
