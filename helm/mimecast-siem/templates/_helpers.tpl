{{/* Chart name. */}}
{{- define "mimecast-siem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "mimecast-siem.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mimecast-siem.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mimecast-siem.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mimecast-siem.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mimecast-siem.labels" -}}
helm.sh/chart: {{ include "mimecast-siem.chart" . }}
{{ include "mimecast-siem.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mimecast-siem.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mimecast-siem.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mimecast-siem.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "mimecast-siem.secretName" -}}
{{- default (include "mimecast-siem.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "mimecast-siem.hasSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.create }}true{{ end }}
{{- end }}

{{/* True when the state store is PostgreSQL (replicas may share it through leases). */}}
{{- define "mimecast-siem.postgres" -}}
{{- $state := default dict .Values.config.state }}
{{- $url := toString (default "" $state.url) }}
{{- if hasPrefix "postgres" $url }}true{{ end }}
{{- end }}

{{/*
The rendered config file: values.config plus the data dir and, for each tenant without a secret,
a client_secret_file pointing at the mounted Secret.
*/}}
{{- define "mimecast-siem.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "data_dir" .Values.dataDir }}
{{- $tenants := list }}
{{- range $t := (default list $cfg.tenants) }}
{{- $tc := deepCopy $t }}
{{- if not (or (hasKey $tc "client_secret") (hasKey $tc "client_secret_file")) }}
{{- $_ := set $tc "client_secret_file" (printf "%s/%s-client-secret" $.Values.secretsMountPath $tc.name) }}
{{- end }}
{{- $tenants = append $tenants $tc }}
{{- end }}
{{- $_ := set $cfg "tenants" $tenants }}
{{- toYaml $cfg }}
{{- end }}

{{/* Fail rendering on unsafe combinations. */}}
{{- define "mimecast-siem.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "mimecast-siem.postgres" .)) }}
{{- fail "replicaCount > 1 needs PostgreSQL state (config.state.url: postgresql+psycopg://...); SQLite state supports a single replica" }}
{{- end }}
{{- if and .Values.backfill.enabled (not .Values.backfill.tenant) }}
{{- fail "backfill.enabled needs backfill.tenant" }}
{{- end }}
{{- if and .Values.backfill.enabled (or (not .Values.backfill.since) (not .Values.backfill.until)) }}
{{- fail "backfill.enabled needs backfill.since and backfill.until" }}
{{- end }}
{{- end }}

{{/* Volumes shared by the Deployment, the backfill Job and the test pod. */}}
{{- define "mimecast-siem.volumes" -}}
- name: config
  configMap:
    name: {{ include "mimecast-siem.fullname" . }}
{{- if include "mimecast-siem.hasSecret" . }}
- name: secrets
  secret:
    secretName: {{ include "mimecast-siem.secretName" . }}
    defaultMode: 0400
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "mimecast-siem.volumeMounts" -}}
- name: config
  mountPath: /etc/mimecast-siem/config
  readOnly: true
{{- if include "mimecast-siem.hasSecret" . }}
- name: secrets
  mountPath: {{ .Values.secretsMountPath }}
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: {{ .Values.dataDir }}
{{- end }}

{{- define "mimecast-siem.env" -}}
- name: MIMECAST_SIEM_CONFIG
  value: /etc/mimecast-siem/config/config.yaml
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
