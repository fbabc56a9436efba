{{- define "kubemcp.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubemcp.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "kubemcp.labels" -}}
app.kubernetes.io/name: kubemcp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubemcp.operatorSelector" -}}
app.kubernetes.io/name: kubemcp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kubemcp.restrictedContainer" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
{{- end -}}

{{- /* What the operator does in a namespace it watches (it holds every permission it grants gateways). */ -}}
{{- define "kubemcp.operatorRules" }}
  - apiGroups: ["kubemcp.dev"]
    resources: ["mcpcatalogs", "mcpservers", "mcpgateways"]
    verbs: ["get", "list", "watch", "patch", "update"]
  - apiGroups: ["kubemcp.dev"]
    resources: ["mcpcatalogs/status", "mcpservers/status", "mcpgateways/status"]
    verbs: ["get", "patch", "update"]
  # ownerReferences with blockOwnerDeletion on objects owned by these kinds
  - apiGroups: ["kubemcp.dev"]
    resources: ["mcpservers/finalizers", "mcpgateways/finalizers"]
    verbs: ["update"]
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["create", "delete", "get", "list", "watch", "patch"]
  - apiGroups: [""]
    resources: ["pods/attach"]
    verbs: ["create", "get"]
  - apiGroups: [""]
    resources: ["pods/log"]
    verbs: ["get"]
  - apiGroups: [""]
    resources: ["configmaps", "services", "serviceaccounts"]
    verbs: ["create", "delete", "get", "list", "watch", "patch", "update"]
  - apiGroups: [""]
    resources: ["events"]
    verbs: ["create", "patch"]
  - apiGroups: ["events.k8s.io"]
    resources: ["events"]
    verbs: ["create", "patch"]
  # Nothing may connect to a server Pod (the gateway reaches it through pods/attach).
  - apiGroups: ["networking.k8s.io"]
    resources: ["networkpolicies"]
    verbs: ["create", "delete", "get", "list", "watch", "patch", "update"]
  - apiGroups: ["apps"]
    resources: ["deployments"]
    verbs: ["create", "delete", "get", "list", "watch", "patch", "update"]
  - apiGroups: ["batch"]
    resources: ["jobs"]
    verbs: ["create", "delete", "get", "list", "watch"]
  # Each gateway's replicas share a key kept in a Secret the operator creates once; it never reads Secrets.
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["create"]
  - apiGroups: ["policy"]
    resources: ["poddisruptionbudgets"]
    verbs: ["create", "delete", "get", "list", "watch", "patch", "update"]
  # Granted to gateways (their replicas find each other through their Service's endpoints).
  - apiGroups: ["discovery.k8s.io"]
    resources: ["endpointslices"]
    verbs: ["get", "list", "watch"]
  - apiGroups: ["rbac.authorization.k8s.io"]
    resources: ["roles", "rolebindings"]
    verbs: ["create", "delete", "get", "list", "watch", "patch", "update"]
{{- end -}}
