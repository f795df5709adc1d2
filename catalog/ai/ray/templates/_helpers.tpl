{{/*
Shared helpers of the ray chart. Every name is prefixed with "ray." so the chart
can be used as a subchart of a suite without clashing with other charts' helpers.
*/}}

{{/* Chart name, truncated to the 63 characters allowed in label values. */}}
{{- define "ray.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. fullnameOverride may contain template expressions so a
suite can pin predictable names such as "{{ .Release.Name }}-kafka".
*/}}
{{- define "ray.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- tpl .Values.fullnameOverride . | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", for charts with several components. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "ray.componentName" -}}
{{- printf "%s-%s" (include "ray.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "ray.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "ray.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ray.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "ray.labels" -}}
helm.sh/chart: {{ include "ray.chart" .ctx }}
{{ include "ray.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ .ctx.Values.global.partOf | default (include "ray.name" .ctx) }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference. Takes (dict "ctx" $ "image" .Values.image); global.imageRegistry wins over image.registry. */}}
{{- define "ray.image" -}}
{{- $registry := .ctx.Values.global.imageRegistry | default .image.registry -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block merged from global and chart values. */}}
{{- define "ray.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the ServiceAccount. */}}
{{- define "ray.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ray.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext block. */}}
{{- define "ray.podSecurityContext" -}}
{{- if .Values.podSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.podSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container securityContext block. */}}
{{- define "ray.containerSecurityContext" -}}
{{- if .Values.containerSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.containerSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A probe. Takes (dict "name" "livenessProbe" "probe" <timing values> "handler" <dict>):
the chart fixes the check, values tune the timing.
*/}}
{{- define "ray.probe" -}}
{{- if .probe.enabled }}
{{ .name }}:
  {{- toYaml .handler | nindent 2 }}
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* storageClassName line of a PVC spec. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "ray.storageClass" -}}
{{- $sc := .persistence.storageClass | default .ctx.Values.global.storageClass -}}
{{- if $sc -}}
{{- if eq $sc "-" -}}
storageClassName: ""
{{- else -}}
storageClassName: {{ $sc | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* PVC spec body. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "ray.pvcSpec" -}}
accessModes:
  {{- toYaml .persistence.accessModes | nindent 2 }}
{{- with (include "ray.storageClass" .) }}
{{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .persistence.size | quote }}
{{- end -}}

{{/* nodeSelector/tolerations/affinity/priorityClassName of a pod spec. Takes the component values. */}}
{{- define "ray.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Render a value that may contain template expressions. Takes (dict "ctx" $ "value" x). */}}
{{- define "ray.tplValue" -}}
{{- if .value -}}
{{- tpl (toString .value) .ctx -}}
{{- end -}}
{{- end -}}

{{/*
Container resources with the GPU request/limit added when GPUs are enabled.
Takes (dict "resources" <resources values> "gpu" <gpu values> "enabled" <bool>).
*/}}
{{- define "ray.resources" -}}
{{- $res := deepCopy .resources -}}
{{- if .enabled -}}
{{- $count := toString .gpu.count -}}
{{- $_ := set $res "limits" (merge (dict .gpu.resourceName $count) (index $res "limits" | default dict)) -}}
{{- $_ := set $res "requests" (merge (dict .gpu.resourceName $count) (index $res "requests" | default dict)) -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/*
Scheduling block with the GPU node selector and tolerations merged in when GPUs are enabled.
Takes (dict "values" <component values> "gpu" <gpu values> "enabled" <bool>).
*/}}
{{- define "ray.gpuScheduling" -}}
{{- $s := pick .values "nodeSelector" "tolerations" "affinity" "priorityClassName" -}}
{{- if .enabled -}}
{{- $_ := set $s "nodeSelector" (merge (deepCopy .values.nodeSelector) .gpu.nodeSelector) -}}
{{- $_ := set $s "tolerations" (concat .values.tolerations .gpu.tolerations) -}}
{{- end -}}
{{- include "ray.scheduling" $s -}}
{{- end -}}

{{/* Name of the head service. */}}
{{- define "ray.headName" -}}
{{- include "ray.componentName" (dict "ctx" . "component" "head") -}}
{{- end -}}

{{/* Environment shared by head and workers. */}}
{{- define "ray.commonEnv" -}}
- name: RAY_USAGE_STATS_ENABLED
  value: "0"
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- $mlflow := include "ray.tplValue" (dict "ctx" . "value" (.Values.integrations.mlflowTrackingUri | default (dig "ai" "mlflowTrackingUri" "" .Values.global))) }}
{{- with $mlflow }}
- name: MLFLOW_TRACKING_URI
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Pod metadata shared by head and workers. Takes (dict "ctx" $ "component" "x" "values" <component values>). */}}
{{- define "ray.podMeta" -}}
labels:
  {{- include "ray.labels" (dict "ctx" .ctx "component" .component) | nindent 2 }}
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
