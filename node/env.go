// Package node is the cen ROS 1 node: parameters, subscriptions, time sync, back-pressure, publishing and
// diagnostics. It holds no image math: decoding and tensors come from preprocess/, inference from cen/.
package node

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/apimaster"
)

// DefaultMasterURI is what ROS assumes when ROS_MASTER_URI is unset.
const DefaultMasterURI = "http://localhost:11311"

// MasterAddress turns a ROS_MASTER_URI such as "http://host:11311/" into the "host:port" form goroslib needs.
// goroslib ignores the environment and fails on a trailing slash, so every node and tool goes through this.
// An empty uri means ROS_MASTER_URI from the environment, or DefaultMasterURI when that is unset.
func MasterAddress(uri string) (string, error) {
	if uri == "" {
		uri = os.Getenv("ROS_MASTER_URI")
	}
	if uri == "" {
		uri = DefaultMasterURI
	}
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("ROS_MASTER_URI %q is not a URL like http://HOST:11311", uri)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("ROS_MASTER_URI %q must use http://", uri)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "11311")
	}
	return host, nil
}

// PingMaster asks the master at addr ("host:port") for its URI, which proves it is up and speaks the master API.
func PingMaster(addr string, timeout time.Duration) error {
	c := apimaster.NewClient(addr, "/cen_doctor", &http.Client{Timeout: timeout})
	if _, err := c.GetURI(); err != nil {
		return fmt.Errorf("no ROS master answers at %s: %w", addr, err)
	}
	return nil
}

// CheckHostEnv checks ROS_IP and ROS_HOSTNAME, the names other nodes use to reach this one. It returns one
// problem per bad setting; an empty slice means the settings are usable.
func CheckHostEnv() []string {
	var problems []string
	ip := os.Getenv("ROS_IP")
	hostname := os.Getenv("ROS_HOSTNAME")
	if ip != "" && hostname != "" {
		problems = append(problems, fmt.Sprintf("both ROS_IP (%s) and ROS_HOSTNAME (%s) are set; ROS uses ROS_HOSTNAME, unset one of them", ip, hostname))
	}
	if ip != "" {
		parsed := net.ParseIP(ip)
		switch {
		case parsed == nil:
			problems = append(problems, fmt.Sprintf("ROS_IP %q is not an IP address", ip))
		case !isLocalIP(parsed):
			problems = append(problems, fmt.Sprintf("ROS_IP %s is not an address of this machine; other nodes could not reach it", ip))
		}
	}
	if hostname != "" {
		if strings.Contains(hostname, "://") || strings.Contains(hostname, "/") {
			problems = append(problems, fmt.Sprintf("ROS_HOSTNAME %q must be a bare host name, not a URL", hostname))
		} else if addrs, err := net.LookupHost(hostname); err != nil || len(addrs) == 0 {
			problems = append(problems, fmt.Sprintf("ROS_HOSTNAME %q does not resolve on this machine", hostname))
		}
	}
	return problems
}

func isLocalIP(ip net.IP) bool {
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
