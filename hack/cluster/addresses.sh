# The local cluster's addresses, in one place (sourced by hack/cluster.sh and hack/node.sh).
# kwok's fake pods take 10.0.0.0/24 and its fake nodes the machine's own address; nothing here
# overlaps them. Only one real node runs per machine: its bridge and kube-proxy's iptables chains
# are machine-wide.
export NODE_NAME=real-node
export NODE_BRIDGE=ha-node0                 # the bridge the project owns
export NODE_IP=10.244.0.1                   # the node's address on it (kubelet, API relay)
export NODE_POD_CIDR=10.244.0.0/24          # the real pods' addresses
export SERVICE_CIDR=10.96.0.0/16            # Service IPs (kube-apiserver --service-cluster-ip-range)
export KUBERNETES_SERVICE_IP=10.96.0.1      # the `kubernetes` Service: the first of the range
export KUBE_DNS_IP=10.96.0.10               # the kube-dns Service, as kubeadm picks it
export KWOK_POD_CIDR=10.0.0.0/24            # kwok's fake pod IPs: routed onto the bridge, never out
export CLUSTER_DOMAIN=cluster.local
