/** The permission block of an Azure role definition, the same on ARM and on the Managed HSM data plane. */
export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}
