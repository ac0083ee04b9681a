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
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pull secrets of the chart and of an umbrella chart's `global.imagePullSecrets`. */}}
{{- define "mimecast-siem.imagePullSecrets" -}}
{{- $global := default dict .Values.global }}
{{- $all := concat (default list $global.imagePullSecrets) (default list .Values.imagePullSecrets) }}
{{- range $all }}
{{- if kindIs "string" . }}
- name: {{ . }}
{{- else }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of the ConfigMap holding config.yaml: the chart's, or `existingConfigMap`. */}}
{{- define "mimecast-siem.configMapName" -}}
{{- default (include "mimecast-siem.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{/* Checksum of the configuration: the rendered ConfigMap, or the name of an existing one. */}}
{{- define "mimecast-siem.configChecksum" -}}
{{- if .Values.existingConfigMap }}
{{- .Values.existingConfigMap | sha256sum }}
{{- else }}
{{- include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/*
The backfill Job's name: unique per (request, configuration, image), so `helm upgrade` with a changed
config renders a new Job instead of patching an immutable Job template (helm deletes the old one;
re-running the same request resumes it from the state store).
*/}}
{{- define "mimecast-siem.backfillJobName" -}}
{{- $spec := dict "backfill" .Values.backfill "config" (include "mimecast-siem.configChecksum" .) "image" (include "mimecast-siem.image" .) }}
{{- printf "%s-backfill-%s" (include "mimecast-siem.fullname" . | trunc 43 | trimSuffix "-") (toJson $spec | sha256sum | trunc 10) }}
{{- end }}

{{/*
Egress ports the NetworkPolicy opens: DNS is separate; here the Mimecast API (each tenant's
base_url, 443 by default), every enabled sink (its `port`, or the port of its `url`/`endpoint`) and the
state store (the port of `state.url`, 5432 by default), plus `networkPolicy.extraEgressPorts`.
One "port/protocol" per line, deduplicated.
*/}}
{{- define "mimecast-siem.egressPorts" -}}
{{- $ports := list "443/TCP" }}
{{- range $t := (default list .Values.config.tenants) }}
{{- $url := toString (default "" $t.base_url) }}
{{- if hasPrefix "http" $url }}
{{- $ports = append $ports (printf "%s/TCP" (include "mimecast-siem.urlPort" $url)) }}
{{- end }}
{{- end }}
{{- range $s := (default list .Values.config.sinks) }}
{{- if ne (toString $s.enabled) "false" }}
{{- $proto := "TCP" }}
{{- if eq (toString (default "" $s.transport)) "udp" }}{{ $proto = "UDP" }}{{ end }}
{{- if $s.port }}
{{- $ports = append $ports (printf "%v/%s" $s.port $proto) }}
{{- else if eq (toString $s.type) "syslog" }}
{{- $ports = append $ports (printf "%s/%s" (ternary "6514" "514" (eq (toString $s.transport) "tls")) $proto) }}
{{- end }}
{{- range $key := list "url" "endpoint" }}
{{- $url := toString (default "" (get $s $key)) }}
{{- if contains "://" $url }}
{{- $ports = append $ports (printf "%s/TCP" (include "mimecast-siem.urlPort" $url)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $state := default dict .Values.config.state }}
{{- $stateUrl := toString (default "" $state.url) }}
{{- if hasPrefix "postgres" $stateUrl }}
{{- $host := (urlParse $stateUrl).host }}
{{- $ports = append $ports (printf "%s/TCP" (ternary (last (splitList ":" $host)) "5432" (contains ":" $host))) }}
{{- end }}
{{- range (uniq $ports) }}
{{ . }}
{{- end }}
{{- end }}

{{/* The port of a URL: explicit, else 443 for https and 80 for http. */}}
{{- define "mimecast-siem.urlPort" -}}
{{- $u := urlParse . }}
{{- if contains ":" $u.host }}{{ last (splitList ":" $u.host) }}{{ else if eq $u.scheme "http" }}80{{ else }}443{{ end }}
{{- end }}

{{- define "mimecast-siem.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mimecast-siem.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: `global.imageRegistry` (an umbrella chart's mirror) replaces the registry part. */}}
{{- define "mimecast-siem.image" -}}
{{- $global := default dict .Values.global }}
{{- $repository := .Values.image.repository }}
{{- with $global.imageRegistry }}
{{- $parts := splitList "/" $repository }}
{{- if and (gt (len $parts) 1) (or (contains "." (first $parts)) (contains ":" (first $parts))) }}
{{- $repository = join "/" (rest $parts) }}
{{- end }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
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
{{- if and (gt (int .Values.replicaCount) 1) .Values.persistence.enabled (has "ReadWriteOnce" .Values.persistence.accessModes) }}
{{- fail "replicaCount > 1 with persistence.enabled would mount one ReadWriteOnce volume in every replica; with PostgreSQL state nothing needs it (state and dead letters are in PostgreSQL): set persistence.enabled=false, or persistence.accessModes=[ReadWriteMany] for a file sink" }}
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
    name: {{ include "mimecast-siem.configMapName" . }}
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

{{/* `envFrom` of the daemon and the backfill Job (empty renders nothing). */}}
{{- define "mimecast-siem.envFrom" -}}
{{- with .Values.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}


{{/* scheme, tlsConfig, relabelings and metricRelabelings of a ServiceMonitor endpoint or PodMonitor endpoint. */}}
{{- define "mimecast-siem.scrapeExtras" -}}
{{- with .scheme }}
scheme: {{ . }}
{{- end }}
{{- with .tlsConfig }}
tlsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .relabelings }}
relabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
