{{/*
Shared helpers of the triton chart. Every name is prefixed with "triton." so the chart
can be used as a subchart of a suite without clashing with other charts' helpers.
*/}}

{{/* Chart name, truncated to the 63 characters allowed in label values. */}}
{{- define "triton.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. fullnameOverride may contain template expressions so a
suite can pin predictable names such as "{{ .Release.Name }}-kafka".
*/}}
{{- define "triton.fullname" -}}
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
{{- define "triton.componentName" -}}
{{- printf "%s-%s" (include "triton.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "triton.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "triton.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triton.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "triton.labels" -}}
helm.sh/chart: {{ include "triton.chart" .ctx }}
{{ include "triton.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ .ctx.Values.global.partOf | default (include "triton.name" .ctx) }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference. Takes (dict "ctx" $ "image" .Values.image); global.imageRegistry wins over image.registry. */}}
{{- define "triton.image" -}}
{{- $registry := .ctx.Values.global.imageRegistry | default .image.registry -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block merged from global and chart values. */}}
{{- define "triton.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the ServiceAccount. */}}
{{- define "triton.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "triton.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext block. */}}
{{- define "triton.podSecurityContext" -}}
{{- if .Values.podSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.podSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container securityContext block. */}}
{{- define "triton.containerSecurityContext" -}}
{{- if .Values.containerSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.containerSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A probe. Takes (dict "name" "livenessProbe" "probe" <timing values> "handler" <dict>):
the chart fixes the check, values tune the timing.
*/}}
{{- define "triton.probe" -}}
{{- if .probe.enabled }}
{{ .name }}:
  {{- toYaml .handler | nindent 2 }}
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* storageClassName line of a PVC spec. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "triton.storageClass" -}}
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
{{- define "triton.pvcSpec" -}}
accessModes:
  {{- toYaml .persistence.accessModes | nindent 2 }}
{{- with (include "triton.storageClass" .) }}
{{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .persistence.size | quote }}
{{- end -}}

{{/* nodeSelector/tolerations/affinity/priorityClassName of a pod spec. Takes the component values. */}}
{{- define "triton.scheduling" -}}
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
{{- define "triton.tplValue" -}}
{{- if .value -}}
{{- tpl (toString .value) .ctx -}}
{{- end -}}
{{- end -}}

{{/*
Container resources with the GPU request/limit added when GPUs are enabled.
Takes (dict "resources" <resources values> "gpu" <gpu values> "enabled" <bool>).
*/}}
{{- define "triton.resources" -}}
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
{{- define "triton.gpuScheduling" -}}
{{- $s := pick .values "nodeSelector" "tolerations" "affinity" "priorityClassName" -}}
{{- if .enabled -}}
{{- $_ := set $s "nodeSelector" (merge (deepCopy .values.nodeSelector) .gpu.nodeSelector) -}}
{{- $_ := set $s "tolerations" (concat .values.tolerations .gpu.tolerations) -}}
{{- end -}}
{{- include "triton.scheduling" $s -}}
{{- end -}}

{{/* Name of the model repository PVC. */}}
{{- define "triton.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-models" (include "triton.fullname" .)) -}}
{{- end -}}
