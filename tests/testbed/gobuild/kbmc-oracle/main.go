// Command kbmc-oracle answers, one JSON line per JSON line on stdin, what Kubernetes' own
// validators say about a string: the differential tests compare kbmc's checks with it.
//
// Request:  {"op": "dns1123label", "value": "etcd"} (ops: see answer)
// Response: {"ok": true} plus op-specific fields (see below), or {"error": "..."} for a bad request.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"

	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

type request struct {
	Op    string `json:"op"`
	Value string `json:"value"`
}

type response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// quantity: the sign, whether it exceeds 2^63-1, and its exact decimal value when it does not.
	Sign   int    `json:"sign,omitempty"`
	TooBig bool   `json:"tooBig,omitempty"`
	Dec    string `json:"dec,omitempty"`
	// cidr, ip: Go's canonical forms; is4: whether the address has an IPv4 form (To4).
	IP  string `json:"ip,omitempty"`
	Net string `json:"net,omitempty"`
	Is4 bool   `json:"is4,omitempty"`
	// yaml: the parsed document as JSON (as kubectl reads a manifest).
	JSON string `json:"json,omitempty"`
}

var maxInt64 = resource.MustParse("9223372036854775807")

func answer(req request) response {
	errs := func(list []string) response { return response{OK: len(list) == 0} }
	switch req.Op {
	case "dns1123label":
		return errs(validation.IsDNS1123Label(req.Value))
	case "dns1123subdomain":
		return errs(validation.IsDNS1123Subdomain(req.Value))
	case "dns1035label":
		return errs(validation.IsDNS1035Label(req.Value))
	case "qualifiedname":
		return errs(validation.IsQualifiedName(req.Value))
	case "labelvalue":
		return errs(validation.IsValidLabelValue(req.Value))
	case "annotations", "labels": // value: a JSON object, checked as metadata.annotations / metadata.labels
		var m map[string]string
		if err := json.Unmarshal([]byte(req.Value), &m); err != nil {
			return response{Error: "value must be a JSON object of strings: " + err.Error()}
		}
		path := field.NewPath("metadata", req.Op)
		if req.Op == "annotations" {
			return response{OK: len(apivalidation.ValidateAnnotations(m, path)) == 0}
		}
		return response{OK: len(metavalidation.ValidateLabels(m, path)) == 0}
	case "quantity":
		q, err := resource.ParseQuantity(req.Value)
		if err != nil {
			return response{}
		}
		r := response{OK: true, Sign: q.Sign()}
		abs := q.DeepCopy()
		if abs.Sign() < 0 {
			abs.Neg()
		}
		if abs.Cmp(maxInt64) > 0 {
			r.TooBig = true
		} else {
			r.Dec = q.AsDec().String()
		}
		return r
	case "cidr":
		ip, ipnet, err := net.ParseCIDR(req.Value)
		if err != nil {
			return response{}
		}
		return response{OK: true, IP: ip.String(), Net: ipnet.String(), Is4: ip.To4() != nil}
	case "ip":
		ip := net.ParseIP(req.Value)
		if ip == nil {
			return response{}
		}
		return response{OK: true, IP: ip.String(), Is4: ip.To4() != nil}
	case "semver":
		_, err := version.ParseSemantic(req.Value)
		return response{OK: err == nil}
	case "yaml":
		data, err := yaml.YAMLToJSON([]byte(req.Value))
		if err != nil {
			return response{Error: err.Error()}
		}
		return response{OK: true, JSON: string(data)}
	}
	return response{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var resp response
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			resp = response{Error: "bad request: " + err.Error()}
		} else {
			resp = answer(req)
		}
		if err := out.Encode(resp); err != nil {
			os.Exit(1)
		}
	}
}
