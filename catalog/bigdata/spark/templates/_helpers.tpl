{{/*
Shared helpers of the spark chart. Every name is prefixed with "spark." so the chart
can be used as a subchart of a suite without clashing with other charts' helpers.
*/}}

{{/* Chart name, truncated to the 63 characters allowed in label values. */}}
{{- define "spark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. fullnameOverride may contain template expressions so a
suite can pin predictable names such as "{{ .Release.Name }}-kafka".
*/}}
{{- define "spark.fullname" -}}
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
{{- define "spark.componentName" -}}
{{- printf "%s-%s" (include "spark.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "spark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "spark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spark.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels. Takes (dict "ctx" $ "component" "x"). */}}
{{- define "spark.labels" -}}
helm.sh/chart: {{ include "spark.chart" .ctx }}
{{ include "spark.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ .ctx.Values.global.partOf | default (include "spark.name" .ctx) }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference. Takes (dict "ctx" $ "image" .Values.image); global.imageRegistry wins over image.registry. */}}
{{- define "spark.image" -}}
{{- $registry := .ctx.Values.global.imageRegistry | default .image.registry -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block merged from global and chart values. */}}
{{- define "spark.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the ServiceAccount. */}}
{{- define "spark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "spark.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext block. */}}
{{- define "spark.podSecurityContext" -}}
{{- if .Values.podSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.podSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Container securityContext block. */}}
{{- define "spark.containerSecurityContext" -}}
{{- if .Values.containerSecurityContext.enabled }}
securityContext:
  {{- toYaml (omit .Values.containerSecurityContext "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A probe. Takes (dict "name" "livenessProbe" "probe" <timing values> "handler" <dict>):
the chart fixes the check, values tune the timing.
*/}}
{{- define "spark.probe" -}}
{{- if .probe.enabled }}
{{ .name }}:
  {{- toYaml .handler | nindent 2 }}
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* storageClassName line of a PVC spec. Takes (dict "ctx" $ "persistence" <values>). */}}
{{- define "spark.storageClass" -}}
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
{{- define "spark.pvcSpec" -}}
accessModes:
  {{- toYaml .persistence.accessModes | nindent 2 }}
{{- with (include "spark.storageClass" .) }}
{{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .persistence.size | quote }}
{{- end -}}

{{/* nodeSelector/tolerations/affinity/priorityClassName of a pod spec. Takes the component values. */}}
{{- define "spark.scheduling" -}}
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
{{- define "spark.tplValue" -}}
{{- if .value -}}
{{- tpl (toString .value) .ctx -}}
{{- end -}}
{{- end -}}

{{/* HDFS URI: hdfs.uri, else global.hdfs.uri (both may contain template expressions). */}}
{{- define "spark.hdfsUri" -}}
{{- include "spark.tplValue" (dict "ctx" . "value" (.Values.hdfs.uri | default (dig "hdfs" "uri" "" .Values.global))) | trimSuffix "/" -}}
{{- end -}}

{{/* Kafka bootstrap servers: kafka.bootstrapServers, else global.kafka.bootstrapServers. */}}
{{- define "spark.kafkaBootstrap" -}}
{{- include "spark.tplValue" (dict "ctx" . "value" (.Values.kafka.bootstrapServers | default (dig "kafka" "bootstrapServers" "" .Values.global))) -}}
{{- end -}}

{{/* ZooKeeper connect string for master recovery. */}}
{{- define "spark.zookeeperUrl" -}}
{{- include "spark.tplValue" (dict "ctx" . "value" (.Values.master.recovery.zookeeperUrl | default (dig "zookeeper" "connect" "" .Values.global))) -}}
{{- end -}}

{{/* Event log directory URI. */}}
{{- define "spark.eventLogDir" -}}
{{- if .Values.eventLog.dir -}}
{{- include "spark.tplValue" (dict "ctx" . "value" .Values.eventLog.dir) -}}
{{- else if (include "spark.hdfsUri" .) -}}
{{- printf "%s/spark-events" (include "spark.hdfsUri" .) -}}
{{- else -}}
file:///opt/spark/events
{{- end -}}
{{- end -}}

{{/* "true" when event logs go to the shared local volume. */}}
{{- define "spark.localEvents" -}}
{{- if hasPrefix "file:" (include "spark.eventLogDir" .) -}}true{{- end -}}
{{- end -}}

{{/* Master URL. */}}
{{- define "spark.masterUrl" -}}
{{- printf "spark://%s:%d" (include "spark.componentName" (dict "ctx" . "component" "master")) (int .Values.master.service.port) -}}
{{- end -}}

{{/* Environment shared by all Spark containers. */}}
{{- define "spark.commonEnv" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: SPARK_DAEMON_MEMORY
  value: {{ .Values.daemonMemory | quote }}
- name: SPARK_NO_DAEMONIZE
  value: "true"
- name: HOME
  value: /tmp
{{- with (include "spark.kafkaBootstrap" .) }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Volume mounts shared by all Spark containers. */}}
{{- define "spark.commonMounts" -}}
- name: conf
  mountPath: /opt/spark/conf
- name: tmp
  mountPath: /tmp
{{- if include "spark.localEvents" . }}
- name: events
  mountPath: /opt/spark/events
{{- end }}
{{- end -}}

{{/* Volumes shared by all Spark pods. */}}
{{- define "spark.commonVolumes" -}}
- name: conf
  configMap:
    name: {{ include "spark.fullname" . }}-conf
- name: tmp
  emptyDir: {}
{{- if include "spark.localEvents" . }}
- name: events
  {{- if .Values.eventLog.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "spark.fullname" . }}-events
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Pod-template boilerplate shared by all Spark pods. Takes (dict "ctx" $ "component" "x" "values" <component values>). */}}
{{- define "spark.podMeta" -}}
labels:
  {{- include "spark.labels" (dict "ctx" .ctx "component" .component) | nindent 2 }}
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum }}
  {{- with .values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
