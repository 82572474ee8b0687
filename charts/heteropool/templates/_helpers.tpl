{{/*
Named templates of the heteropool chart. Names are DNS-1123 labels: truncated to 63 characters
and trimmed of a trailing "-".
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "heteropool.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The object-name prefix: fullnameOverride, else <release>-<name> (just <release> when it contains <name>). */}}
{{- define "heteropool.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the operator's Deployment, Service and pod labels. */}}
{{- define "heteropool.operator.fullname" -}}
{{- printf "%s-operator" (include "heteropool.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* chart label value: <name>-<version>. */}}
{{- define "heteropool.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object of the chart. */}}
{{- define "heteropool.labels" -}}
helm.sh/chart: {{ include "heteropool.chart" . }}
{{ include "heteropool.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: heteropool
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select the chart's pods (stable across upgrades). */}}
{{- define "heteropool.selectorLabels" -}}
app.kubernetes.io/name: {{ include "heteropool.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of the operator's objects (the component label is part of the selector). */}}
{{- define "heteropool.operator.labels" -}}
{{ include "heteropool.labels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "heteropool.operator.selectorLabels" -}}
{{ include "heteropool.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "heteropool.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "heteropool.operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "heteropool: serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "heteropool.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Refuse combinations of values that cannot work, naming the values. */}}
{{- define "heteropool.validate" -}}
{{- if and .Values.monitoring.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "heteropool: monitoring.serviceMonitor.enabled needs metrics.service.enabled (the ServiceMonitor scrapes that Service)" -}}
{{- end -}}
{{- if eq (int .Values.operator.metricsPort) (int .Values.operator.livenessPort) -}}
{{- fail (printf "heteropool: operator.metricsPort and operator.livenessPort must differ, both are %v" .Values.operator.metricsPort) -}}
{{- end -}}
{{- end -}}

{{/*
Rules the operator needs in every namespace it watches. It must hold every permission it grants
gateways in their Roles (endpointslices, configmaps: get/list/watch), or the API server refuses
to let it create those Roles (RBAC escalation check).
*/}}
{{- define "heteropool.operator.namespacedRules" -}}
- apiGroups: [heteropool.dev]
  resources: [heteroinferencepools]
  verbs: [get, list, watch, patch]
- apiGroups: [heteropool.dev]
  resources: [heteroinferencepools/status]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps, serviceaccounts]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [get, list, watch, create, patch, delete]
# The picker's Lease (several picker replicas, one active): granted to the picker, so held here.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
# Gateway mode: the pool's InferencePool and HTTPRoute to the platform's Gateway.
- apiGroups: [inference.networking.k8s.io]
  resources: [inferencepools]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, patch, delete]
# Gateway mode: the picker reads InferenceObjectives (request priorities), granted to it, so held here.
- apiGroups: [inference.networking.x-k8s.io]
  resources: [inferenceobjectives]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [k8s.cni.cncf.io]
  resources: [network-attachment-definitions]
  verbs: [get]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* Cluster-scoped rules kopf needs in every mode: discovering the CRD. */}}
{{- define "heteropool.operator.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end -}}
