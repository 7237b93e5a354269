# LPI ablation: asymmetric prototypes, one live prototype and one spoof
# prototype per source domain (domain from the samples' domain_label).
_base_ = ['./lpi_tiny_demo.py']

model = dict(
    prototype_loss=dict(asymmetric=True,
                        num_domains={{_base_.num_train_domains}}))
