package pki

// EnrollRequest is the body of an enrollment, POST /v1/enroll on helen's
// agents' port: a token and a certificate request in PEM (NewCSR).
type EnrollRequest struct {
	Token string `json:"token"`
	CSR   string `json:"csr"`
}

// EnrollResponse is helen's answer to an enrollment: the agent's name, its
// signed certificate and helen's CA certificate, in PEM; or, with an error
// status, Error alone.
type EnrollResponse struct {
	Name  string `json:"name,omitempty"`
	Cert  string `json:"cert,omitempty"`
	CA    string `json:"ca,omitempty"`
	Error string `json:"error,omitempty"`
}
