{{/*
Shared helpers of the vllm chart. Every name is prefixed with "vllm." so the chart
can be used as a subchart of a suite without clashing with other charts' helpers.
*/}}

{{/* Chart name, truncated to the 63 characters allowed in label values. */}}
{{- define "vllm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. fullnameOverride may contain template expressions so a
suite can pin predictable names such as "{{ .Release.Name }}-kafka".
*/}}
{{- define "vllm.fullname" -}}
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
{{- define "vllm.componentName" -}}
{{- printf "%s-%s" (include "vllm.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "vllm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "vllm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "vllm.labels" -}}
helm.sh/chart: {{ include "vllm.chart" .ctx }}
{{ include "vllm.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ .ctx.Values.global.partOf | default (include "vllm.name" .ctx) }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference. Takes (dict "ctx" $ "image" .Values.image); global.imageRegistry wins over image.registry. */}}
{{- define "vllm.image" -}}
{{- $registry := .ctx.Values.global.imageRegistry | default .image.registry -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block merged from global and chart values. */}}
{{- define "vllm.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the ServiceAccount. */}}
{{- define "vllm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vllm.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext block. */}}
{{- define "vllm.podSecurityContext" -}}
{{- if .Values.podSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.podSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container securityContext block. */}}
{{- define "vllm.containerSecurityContext" -}}
{{- if .Values.containerSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.containerSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A probe. Takes (dict "name" "livenessProbe" "probe" <timing values> "handler" <dict>):
the chart fixes the check, values tune the timing.
*/}}
{{- define "vllm.probe" -}}
{{- if .probe.enabled }}
{{ .name }}:
  {{- toYaml .handler | nindent 2 }}
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* storageClassName line of a PVC spec. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "vllm.storageClass" -}}
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
{{- define "vllm.pvcSpec" -}}
accessModes:
  {{- toYaml .persistence.accessModes | nindent 2 }}
{{- with (include "vllm.storageClass" .) }}
{{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .persistence.size | quote }}
{{- end -}}

{{/* nodeSelector/tolerations/affinity/priorityClassName of a pod spec. Takes the component values. */}}
{{- define "vllm.scheduling" -}}
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
{{- define "vllm.tplValue" -}}
{{- if .value -}}
{{- tpl (toString .value) .ctx -}}
{{- end -}}
{{- end -}}

{{/*
Container resources with the GPU request/limit added when GPUs are enabled.
Takes (dict "resources" <resources values> "gpu" <gpu values> "enabled" <bool>).
*/}}
{{- define "vllm.resources" -}}
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
{{- define "vllm.gpuScheduling" -}}
{{- $s := pick .values "nodeSelector" "tolerations" "affinity" "priorityClassName" -}}
{{- if .enabled -}}
{{- $_ := set $s "nodeSelector" (merge (deepCopy .values.nodeSelector) .gpu.nodeSelector) -}}
{{- $_ := set $s "tolerations" (concat .values.tolerations .gpu.tolerations) -}}
{{- end -}}
{{- include "vllm.scheduling" $s -}}
{{- end -}}

{{/* Secret with the API key / Hugging Face token ("" when none is needed). */}}
{{- define "vllm.secretName" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else if or .Values.auth.apiKey .Values.auth.huggingfaceToken -}}
{{- printf "%s-auth" (include "vllm.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Name of the model cache PVC. */}}
{{- define "vllm.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-cache" (include "vllm.fullname" .)) -}}
{{- end -}}
